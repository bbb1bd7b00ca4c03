# An operator's softphone for the transfer e2e test: PJSUA2 registers as a seat, answers the call the
# daemon offers, records what it hears to a WAV file, keys the transfer as RFC 4733 telephone-events, and
# hangs up after a while. Prints one line per event with the wall-clock time, for the test to align.
#   python3 pjsua2_operator.py SIP_PORT USER PASSWORD WAV KEYS KEY_AFTER_S HANGUP_AFTER_S
# KEYS = "refer:N1,N2" transfers by REFER instead (RFC 3515): to N1, and when that is refused to N2; the
# softphone hangs up when a NOTIFY reports 200.
# KEYS = "attended:N:TALK_S" is an attended transfer (RFC 5589 §7): the softphone puts its call on hold,
# calls N itself (the consult call, answering the daemon's 407 with its password), talks TALK_S seconds
# once N answered, then REFERs its first call with Replaces naming the consult (xferReplaces); after the
# NOTIFY 200 it hangs up whatever the daemon has not hung up yet.
import random
import sys
import time

import pjsua2 as pj

port, user, pw, wav, keys = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
key_after, hangup_after = float(sys.argv[6]), float(sys.argv[7])


def say(what):
    print("%s %.3f" % (what, time.time()), flush=True)


class Call(pj.Call):
    def __init__(self, acc, call_id=pj.PJSUA_INVALID_ID, name=""):
        pj.Call.__init__(self, acc, call_id)
        self.name = name
        self.media_at = None
        self.recorder = None
        self.xfer_final = None
        self.confirmed_at = None
        self.gone = False

    def onCallMediaState(self, prm):
        if self.name:
            return  # only the caller's call is recorded
        ci = self.getInfo()
        for i, m in enumerate(ci.media):
            if m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                if self.recorder is None:
                    self.recorder = pj.AudioMediaRecorder()
                    self.recorder.createRecorder(wav)
                    self.getAudioMedia(i).startTransmit(self.recorder)
                    self.media_at = time.time()
                    say("MEDIA")

    def onCallTransferStatus(self, prm):
        say("XFER%d" % prm.statusCode)
        if prm.finalNotify:
            self.xfer_final = prm.statusCode
            prm.cont = False

    def onCallState(self, prm):
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and self.confirmed_at is None:
            self.confirmed_at = time.time()
            if self.name:
                say(self.name + "CONFIRMED")
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.gone = True
            say(self.name + "DISCONNECTED")


class Account(pj.Account):
    def __init__(self):
        pj.Account.__init__(self)
        self.call = None

    def onIncomingCall(self, prm):
        self.call = Call(self, prm.callId)
        op = pj.CallOpParam()
        op.statusCode = 200
        try:
            self.call.answer(op)
            say("ANSWERED")
        except pj.Error as e:
            say("ANSWER_FAILED:" + e.info().replace(" ", "_"))


ep = pj.Endpoint()
ep.libCreate()
cfg = pj.EpConfig()
cfg.uaConfig.threadCnt = 0
cfg.uaConfig.mainThreadOnly = True
cfg.logConfig.level = 0
cfg.logConfig.consoleLevel = 0
ep.libInit(cfg)
tc = pj.TransportConfig()
tc.port = 0
tc.boundAddress = "127.0.0.1"
ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
ep.libStart()
ep.audDevManager().setNullDev()
acfg = pj.AccountConfig()
acfg.idUri = "sip:%s@127.0.0.1:%d" % (user, port)
acfg.regConfig.registrarUri = "sip:127.0.0.1:%d" % port
acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, pw))
acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
# RTP ports of our own: PJSUA's default base (4000) is shared with every other PJSUA on the machine, and
# a call whose media transport cannot be created fails at once.
acfg.mediaConfig.transportConfig.port = random.randrange(50000, 59000, 2)
acfg.mediaConfig.transportConfig.portRange = 500
acc = Account()
acc.create(acfg)

deadline = time.time() + 120
registered = keyed = hung_up = referred = False
consult = None
while time.time() < deadline:
    ep.libHandleEvents(20)
    if not registered and acc.getInfo().regIsActive:
        registered = True
        say("REGISTERED")
    call = acc.call
    if call is None or call.media_at is None:
        continue
    since = time.time() - call.media_at
    if keys.startswith("refer:"):
        targets = keys[len("refer:"):].split(",")
        if not keyed and since >= key_after:
            keyed = True
            refer_at = 0
            call.xfer("sip:%s@127.0.0.1:%d" % (targets[0], port), pj.CallOpParam())
            say("REFERRED")
        elif keyed and call.xfer_final is not None:
            code, call.xfer_final = call.xfer_final, None
            if 200 <= code < 300:
                hangup_after = min(hangup_after, since)  # transferred: this phone leaves
            elif refer_at + 1 < len(targets):
                refer_at += 1
                call.xfer("sip:%s@127.0.0.1:%d" % (targets[refer_at], port), pj.CallOpParam())
                say("REFERRED")
    elif keys.startswith("attended:"):
        _, target, talk_s = keys.split(":")
        if not keyed and since >= key_after:
            keyed = True
            call.setHold(pj.CallOpParam())
            consult = Call(acc, name="CONSULT_")
            try:
                consult.makeCall("sip:%s@127.0.0.1:%d" % (target, port), pj.CallOpParam(True))
                say("CONSULTING")
            except pj.Error as e:
                say("CONSULT_FAILED:" + e.info().replace(" ", "_"))
        elif (keyed and not referred and consult.confirmed_at is not None
              and time.time() >= consult.confirmed_at + float(talk_s)):
            referred = True
            call.xferReplaces(consult, pj.CallOpParam())
            say("REFERRED")
        elif referred and call.xfer_final is not None:
            code, call.xfer_final = call.xfer_final, None
            if 200 <= code < 300:
                hangup_after = min(hangup_after, since + 2.0)  # the daemon's BYEs first, if they come
    elif not keyed and since >= key_after:
        keyed = True
        call.dialDtmf(keys)  # RFC 4733 (PJSUA's default DTMF method)
        say("KEYED")
    if not hung_up and since >= hangup_after:
        hung_up = True
        for c in (call, consult):
            if c is not None and not c.gone:
                try:
                    c.hangup(pj.CallOpParam())
                    say(c.name + "HUNG_UP")
                except pj.Error:
                    pass
    if hung_up and since >= hangup_after + 1.0:
        break

acc.call = None
del call
del consult
del acc
ep.libDestroy()
