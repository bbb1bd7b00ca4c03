#!/usr/bin/env bash
# Regenerates the example prompts. Real Mandarin recordings are not available, so these are synthesised
# with espeak-ng (cmn-latn-pinyin; 12345 is written 幺二三四五 so it is read as digits) and converted by sox
# to 8 kHz mono WAV. The encodings are deliberately mixed (μ-law, A-law, 16-bit PCM) because the player
# must accept all three. Needs: apt-get install espeak-ng sox libsox-fmt-all
set -euo pipefail
cd "$(dirname "$0")"
gen() { # name text encoding bits
  local tmp; tmp=$(mktemp --suffix=.wav)
  espeak-ng -v cmn-latn-pinyin -s 150 -w "$tmp" "$2"
  sox "$tmp" -r 8000 -c 1 -e "$3" -b "$4" "$1.wav" gain -n -3 rate -v
  rm -f "$tmp"
}
gen greeting "您好，欢迎致电幺二三四五政务服务便民热线。" u-law 8
gen please_wait "座席正忙，请您稍候，我们将尽快为您服务。" u-law 8
gen merged_transition "您好，欢迎您的来电，此号码热线功能已并入幺二三四五，业务咨询及投诉，请拨打幺二三四五热线。" u-law 8
gen transfer_ringing "正在为您转接相关部门，请稍候。" a-law 8
gen off_hours "您好，现在是非工作时间，您的诉求将由幺二三四五热线受理。" signed 16
# Jingjiang's voice menu (lines 1/2/9; key 8 = progress self-query, key 9 = supervision desk).
gen menu_jingjiang "咨询投诉请按一，企业办事请按二，查询办理进度请按八，政务服务监管专席请按九。" u-law 8
# Tones for the one-key transfer (16-bit PCM): what the operator hears while the target rings (China's
# ringback, 450 Hz 1 s on / 4 s off) and the short beep when an attempt falls back.
sox -n -r 8000 -c 1 -e signed -b 16 ringback.wav synth 1 sine 450 vol 0.25 pad 0 4
sox -n -r 8000 -c 1 -e signed -b 16 transfer_failed.wav synth 0.4 sine 950 vol 0.25 pad 0 0.1

# Operators' feature codes (*21 … *24, docs/acd.md): short confirmations, then the daemon hangs up.
gen logged_in "已登录，开始接听来电。" u-law 8
gen not_ready "已示忙，暂停接听来电。" u-law 8
gen logged_out "已退出登录。" u-law 8
gen wrap_up_ended "整理结束，开始接听来电。" u-law 8
gen refused "操作未完成，请检查后重试。" u-law 8
# A caller past the queue's maximum wait: the call-back promise (R-23), then the call ends.
gen callback "目前话务繁忙，您的来电号码已记录，我们将尽快给您回电，再见。" a-law 8
# Position and expected-wait announcements, assembled from pieces: «您前面还有» N «位在等候，预计等待» M «分钟».
mkdir -p announce
i=0; for d in 零 一 二 三 四 五 六 七 八 九 十; do gen "announce/$i" "$d" u-law 8; i=$((i+1)); done
gen announce/ahead "您前面还有" u-law 8
gen announce/callers "位在等候。" u-law 8
gen announce/expected "预计等待" u-law 8
gen announce/minutes "分钟。" u-law 8
# The satisfaction survey after the operator's part and on call-backs (R-23, docs/survey.md), and what a
# call-back call says first.
gen survey "请您对本次服务进行评价，满意请按一，基本满意请按二，不满意请按三。" u-law 8
gen survey_thanks "感谢您的评价，再见。" u-law 8
gen callback_summary "您好，这里是幺二三四五政务服务便民热线，现对您反映的问题进行回访。" u-law 8
# The progress self-query by phone (R-28, docs/tickets.md): «您的诉求 正在办理，办理期限 二零二七年 三月 五日».
# One word per file, named as the ticket crate's `speech::VOCABULARY` has them; short and μ-law to stay small.
# Words are trimmed of espeak's leading and trailing silence so the sentence they make flows.
word() { # name text encoding bits
  local tmp; tmp=$(mktemp --suffix=.wav)
  espeak-ng -v cmn-latn-pinyin -s 160 -w "$tmp" "$2"
  sox "$tmp" -r 8000 -c 1 -e "$3" -b "$4" "$1.wav" silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -n -3 rate -v
  rm -f "$tmp"
}
mkdir -p selfquery
i=0; for d in 零 一 二 三 四 五 六 七 八 九 十; do word "selfquery/$i" "$d" u-law 8; i=$((i+1)); done
word selfquery/enter_number "请输入工单编号，以井号键结束。" u-law 8
word selfquery/not_found "没有查到您的诉求。" u-law 8
word selfquery/goodbye "感谢您的来电，再见。" u-law 8
word selfquery/your_request "您的诉求" u-law 8
word selfquery/state_accepted "已受理，" u-law 8
word selfquery/state_dispatched "已派单，" u-law 8
word selfquery/state_signed "已签收，" u-law 8
word selfquery/state_handling "正在办理，" u-law 8
word selfquery/state_replied "已答复，" u-law 8
word selfquery/state_returned "正在重新派单，" u-law 8
word selfquery/state_closed "已办结。" u-law 8
word selfquery/state_called_back "已办结并回访。" u-law 8
word selfquery/state_evaluated "已办结并评价。" u-law 8
word selfquery/state_not_accepted "不予受理。" u-law 8
word selfquery/due "办理期限" u-law 8
word selfquery/year "年" u-law 8
word selfquery/month "月" u-law 8
word selfquery/day "日。" u-law 8
