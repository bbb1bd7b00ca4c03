# An operator's softphone for the transfer e2e test: PJSUA2 registers as a seat, answers the call the
# daemon offers, records what it hears to a WAV file, keys the transfer as RFC 4733 telephone-events, and
# hangs up after a while. Prints one line per event with the wall-clock time, for the test to align.
#   python3 pjsua2_operator.py SIP_PORT USER PASSWORD WAV KEYS KEY_AFTER_S HANGUP_AFTER_S
# KEYS = "refer:N1,N2" transfers by REFER instead (RFC 3515): to N1, and when that is refused to N2; the
# softphone hangs up when a NOTIFY reports 200.
import sys
import time

import pjsua2 as pj

port, user, pw, wav, keys = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
key_after, hangup_after = float(sys.argv[6]), float(sys.argv[7])


def say(what):
    print("%s %.3f" % (what, time.time()), flush=True)


class Call(pj.Call):
    def __init__(self, acc, call_id):
        pj.Call.__init__(self, acc, call_id)
        self.media_at = None
        self.recorder = None
        self.xfer_final = None

    def onCallMediaState(self, prm):
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
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            say("DISCONNECTED")


class Account(pj.Account):
    def __init__(self):
        pj.Account.__init__(self)
        self.call = None

    def onIncomingCall(self, prm):
        self.call = Call(self, prm.callId)
        op = pj.CallOpParam()
        op.statusCode = 200
        self.call.answer(op)
        say("ANSWERED")


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
acc = Account()
acc.create(acfg)

deadline = time.time() + 120
registered = keyed = hung_up = False
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
    elif not keyed and since >= key_after:
        keyed = True
        call.dialDtmf(keys)  # RFC 4733 (PJSUA's default DTMF method)
        say("KEYED")
    if not hung_up and since >= hangup_after:
        hung_up = True
        call.hangup(pj.CallOpParam())
        say("HUNG_UP")
    if hung_up and since >= hangup_after + 1.0:
        break

acc.call = None
del call
del acc
ep.libDestroy()
