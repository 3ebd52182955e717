#!/usr/bin/env python3
r"""A pjsip (pjsua2) caller for testing Passgate against a second SIP stack.

    caller.py --target sip:passgate@127.0.0.1:5060 --from +15550100001 \
              --port 5072 --log pjsua.log STEP...

Places one call over UDP from --address (127.0.0.1 unless told), or over TLS
with --tls-ca (the CA that must have signed Passgate's certificate; --tls-cert
and --tls-key present a client certificate), with SRTP when --srtp is
optional (RTP/AVP with a=crypto) or mandatory (RTP/SAVP); with
--no-sdp-offer the INVITE carries no SDP (a delayed offer: pjsip answers the
200's offer in the ACK); --session-timer and --session-expires set its RFC
4028 session timer (pjsip's default: optional, 1800 s), --prack its RFC 3262
reliable provisional responses. pjsip's Contact over TLS names the connection's own
port, where nobody listens once it has closed; --tls-port N puts its TLS
listener on N and names that in the Contact instead. The call a REFER starts
goes to the target over UDP, with plain RTP unless --srtp-transfer.
Runs the steps in order:

    wait:S                 handle events for S seconds
    wait_confirmed:S       until the call is answered and ACKed
    wait_media:S           until the next media update (an answered re-INVITE)
    wait_rtp:N:S           until N more RTP packets have arrived
    wait_refer:S           until Passgate's REFER arrives
    wait_file:PATH:S       until PATH exists (a signal from whatever drives the test)
    play:FILE              speak FILE (16-bit PCM WAV) into the call, looped
    stop                   stop speaking
    dtmf:D                 send the digits D as RFC 4733 telephone-events
    dtmf_until_refer:D:I:S send D every I seconds until a REFER (at most S s)
    hold                   re-INVITE with a=sendonly (pjsua's setHold)
    unhold                 re-INVITE with a=sendrecv
    codec:NAME             enable only NAME (e.g. PCMA) and re-INVITE with a new offer
    codecs:A,B             set the codecs later offers use (e.g. the transfer's INVITE)
    stats                  report the RTP received so far
    hangup                 end the call (BYE)
    until_disconnected:S   until the first call has ended (e.g. Passgate's BYE)

Each event is one JSON object per line on standard output: call and media
state (with the codec in use), RTP counts from getStreamStat, incoming requests,
the Refer-To of a REFER (accepted with 202, so pjsip calls the transfer target
and sends the NOTIFYs), DTMF sent, a step that timed out, and a final "done"
line. pjsip's own log (every SIP message) goes to --log. Any call still up at
the end is hung up. Exit status 0 when every step finished, 1 when a wait
timed out.

pjsua2 runs with no worker threads (threadCnt = 0, mainThreadOnly = True,
events polled with libHandleEvents) and a null audio device.
"""

import argparse
import json
import os
import sys
import time

# pjlib writes a banner to standard output before any configuration applies:
# keep a private copy of stdout for the JSON events and send the rest to stderr.
_events = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)

import pjsua2 as pj  # noqa: E402

STARTED = time.monotonic()

SRTP_USE = {
    "off": pj.PJMEDIA_SRTP_DISABLED,
    "optional": pj.PJMEDIA_SRTP_OPTIONAL,
    "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
}


TIMER_USE = {
    "off": pj.PJSUA_SIP_TIMER_INACTIVE,
    "optional": pj.PJSUA_SIP_TIMER_OPTIONAL,
    "required": pj.PJSUA_SIP_TIMER_REQUIRED,
    "always": pj.PJSUA_SIP_TIMER_ALWAYS,
}


PRACK_USE = {
    "off": pj.PJSUA_100REL_NOT_USED,
    "optional": pj.PJSUA_100REL_OPTIONAL,
    "mandatory": pj.PJSUA_100REL_MANDATORY,
}


def emit(event, **fields):
    fields = {
        "event": event,
        "t": round(time.monotonic() - STARTED, 3),
        "wall": round(time.time(), 3),
        **fields,
    }
    _events.write(json.dumps(fields, ensure_ascii=False) + "\n")


class Caller(pj.Call):
    """One call (the first, or the one a REFER makes) and its RTP counters."""

    def __init__(self, account, name, app, call_id=pj.PJSUA_INVALID_ID):
        pj.Call.__init__(self, account, call_id)
        self.name = name
        self.app = app
        self.state = None
        self.disconnected = False
        self.media_updates = 0
        self.codec = None
        # Packets counted by streams pjsip has already destroyed (a re-INVITE
        # that changes the media replaces the stream and its counters).
        self.rx_before = 0

    def rx_now(self):
        """RTP packets received by the current audio stream, or 0."""
        try:
            return self.getStreamStat(0).rtcp.rxStat.pkt
        except pj.Error:
            return 0

    def rx_total(self):
        return self.rx_before + self.rx_now()

    def onCallState(self, prm):
        ci = self.getInfo()
        self.state = ci.stateText
        emit(
            "call_state",
            call=self.name,
            state=ci.stateText,
            code=ci.lastStatusCode,
            reason=ci.lastReason,
            call_id=ci.callIdString,
        )
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.disconnected = True
            self.app.speaking_to = None if self.app.speaking_to is self else self.app.speaking_to

    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for media in ci.media:
            if media.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            fields = {"call": self.name, "status": int(media.status), "dir": int(media.dir)}
            try:
                info = self.getStreamInfo(media.index)
                self.codec = info.codecName
                fields.update(
                    codec=info.codecName,
                    clock_rate=info.codecClockRate,
                    tx_pt=info.txPt,
                    tx_event_pt=info.audTxEventPt,
                    rx_event_pt=info.audRxEventPt,
                    remote_rtp=info.remoteRtpAddress,
                    local_rtp=self.getMedTransportInfo(media.index).localRtpName,
                )
            except pj.Error:
                pass
            fields.update(rx=self.rx_now(), rx_total=self.rx_total())
            emit("media", **fields)
        self.media_updates += 1
        # A re-INVITE may give the call a new conference port: keep speaking.
        if self.app.speaking_to is self:
            self.app.connect_player(self)

    def onStreamDestroyed(self, prm):
        try:
            self.rx_before += self.getStreamStat(prm.streamIdx).rtcp.rxStat.pkt
        except pj.Error as e:
            emit("error", what="stream stats", reason=e.info())

    def onCallTsxState(self, prm):
        event = prm.e
        if event.type != pj.PJSIP_EVENT_TSX_STATE:
            return
        tsx = event.body.tsxState.tsx
        if tsx.role == pj.PJSIP_ROLE_UAS and tsx.state == pj.PJSIP_TSX_STATE_TRYING:
            emit("request_in", call=self.name, method=tsx.method)

    def onCallTransferRequest(self, prm):
        self.app.refer_to = prm.dstUri
        emit("refer", call=self.name, refer_to=prm.dstUri, status=prm.statusCode)
        # Accept (202) and let pjsua call the target with its own Call object.
        self.app.account_for_transfer()
        target = Caller(self.app.account, "transfer", self.app)
        self.app.calls.append(target)
        prm.newCall = target


class App:
    def __init__(self, args):
        self.args = args
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.userAgent = "pjsua2-caller"
        cfg.logConfig.consoleLevel = 0
        cfg.logConfig.level = 5
        if args.log:
            cfg.logConfig.filename = args.log
        cfg.medConfig.noVad = True
        self.ep.libInit(cfg)
        tcfg = pj.TransportConfig()
        tcfg.port = args.port
        tcfg.boundAddress = args.address
        tcfg.publicAddress = args.address
        self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        if args.tls_ca:
            tls = pj.TransportConfig()
            tls.port = args.tls_port
            tls.boundAddress = args.address
            tls.tlsConfig.CaListFile = args.tls_ca
            tls.tlsConfig.verifyServer = True
            tls.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
            if args.tls_cert:
                tls.tlsConfig.certFile = args.tls_cert
                tls.tlsConfig.privKeyFile = args.tls_key
            self.ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tls)
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        if args.codecs.lower() != "all":
            self.set_codecs(args.codecs.split(","))
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:{args.from_number}@{args.address}:{args.port}"
        acfg.mediaConfig.transportConfig.boundAddress = args.address
        acfg.mediaConfig.transportConfig.publicAddress = args.address
        acfg.mediaConfig.transportConfig.port = args.rtp_port
        acfg.mediaConfig.srtpUse = SRTP_USE[args.srtp]
        # The key exchange is as safe as the hop it crosses: 0 lets SDES go
        # over any transport; TLS is chosen by the target URI.
        acfg.mediaConfig.srtpSecureSignaling = 0
        # RFC 4028: "required" puts Require: timer in the INVITE, and pjsip
        # refreshes the session at half the interval the 200 agrees to.
        acfg.callConfig.timerUse = TIMER_USE[args.session_timer]
        acfg.callConfig.timerSessExpiresSec = args.session_expires
        # RFC 3262: "mandatory" puts Require: 100rel in the INVITE; pjsip
        # then PRACKs each reliable provisional response.
        acfg.callConfig.prackUse = PRACK_USE[args.prack]
        if args.tls_port:
            acfg.sipConfig.contactForced = f"<sip:{args.from_number}@{args.address}:{args.tls_port};transport=tls>"
            acfg.natConfig.contactRewriteUse = 0
        self.acfg = acfg
        self.account = pj.Account()
        self.account.create(acfg)
        self.calls = []
        self.call = None
        self.player = None
        self.speaking_to = None
        self.refer_to = None
        self.dtmf_sent = []
        self.timed_out = []

    def account_for_transfer(self):
        """The call a REFER makes goes to SIPp, which knows no SRTP."""
        if self.args.srtp != "off" and not self.args.srtp_transfer:
            self.acfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_DISABLED
            try:
                self.account.modify(self.acfg)
            except pj.Error as e:
                emit("error", what="account for the transfer", reason=e.info())

    def set_codecs(self, names):
        """Enables the named codecs in that order of preference, no others."""
        wanted = [n.strip().upper() for n in names if n.strip()]
        for codec in self.ep.codecEnum2():
            name = codec.codecId.split("/")[0].upper()
            prio = 255 - wanted.index(name) if name in wanted else 0
            self.ep.codecSetPriority(codec.codecId, prio)

    def poll(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.ep.libHandleEvents(10)

    def wait_for(self, what, seconds, done):
        deadline = time.monotonic() + seconds
        while not done():
            if time.monotonic() >= deadline:
                emit("timeout", step=what)
                self.timed_out.append(what)
                return False
            self.ep.libHandleEvents(10)
        return True

    def connect_player(self, call):
        if self.player is None:
            return
        try:
            self.player.startTransmit(call.getAudioMedia(-1))
        except pj.Error as e:
            emit("error", what="play", reason=e.info())

    def stats(self, call):
        emit("rtp", call=call.name, rx=call.rx_now(), rx_total=call.rx_total(), codec=call.codec)

    def send_dtmf(self, digits):
        prm = pj.CallSendDtmfParam()
        prm.method = pj.PJSUA_DTMF_METHOD_RFC2833
        prm.digits = digits
        self.call.sendDtmf(prm)
        self.dtmf_sent.append(digits)
        emit("dtmf_sent", digits=digits)

    def run(self, steps):
        self.call = Caller(self.account, "main", self)
        self.calls.append(self.call)
        prm = pj.CallOpParam(True)
        if self.args.no_sdp_offer:
            prm.opt.flag |= pj.PJSUA_CALL_NO_SDP_OFFER
        self.call.makeCall(self.args.target, prm)
        for step in steps:
            name, _, arg = step.partition(":")
            emit("step", step=step)
            if not self.step(name, arg):
                break
        self.finish()

    def step(self, name, arg):
        call = self.call
        if name == "wait":
            self.poll(float(arg))
        elif name == "wait_confirmed":
            return self.wait_for(name, float(arg), lambda: call.state == "CONFIRMED" or call.disconnected)
        elif name == "wait_media":
            seen = call.media_updates
            return self.wait_for(name, float(arg), lambda: call.media_updates > seen or call.disconnected)
        elif name == "wait_rtp":
            count, seconds = arg.split(":")
            goal = call.rx_total() + int(count)
            ok = self.wait_for(name, float(seconds), lambda: call.rx_total() >= goal or call.disconnected)
            self.stats(call)
            return ok
        elif name == "wait_refer":
            return self.wait_for(name, float(arg), lambda: self.refer_to is not None or call.disconnected)
        elif name == "wait_file":
            path, _, seconds = arg.rpartition(":")
            return self.wait_for(name, float(seconds), lambda: os.path.exists(path))
        elif name == "play":
            if self.player is None:
                self.player = pj.AudioMediaPlayer()
                self.player.createPlayer(arg, 0)
            self.speaking_to = call
            self.connect_player(call)
            emit("playing", file=arg)
        elif name == "stop":
            if self.player is not None:
                try:
                    self.player.stopTransmit(call.getAudioMedia(-1))
                except pj.Error:
                    pass
            self.speaking_to = None
            emit("stopped")
        elif name == "dtmf":
            self.send_dtmf(arg)
        elif name == "dtmf_until_refer":
            digits, every, seconds = arg.split(":")
            deadline = time.monotonic() + float(seconds)
            while self.refer_to is None and not call.disconnected:
                if time.monotonic() >= deadline:
                    emit("timeout", step=name)
                    self.timed_out.append(name)
                    return False
                self.send_dtmf(digits)
                self.wait_for_quietly(float(every), lambda: self.refer_to is not None or call.disconnected)
        elif name == "hold":
            call.setHold(pj.CallOpParam(True))
        elif name == "unhold":
            prm = pj.CallOpParam(True)
            prm.opt.flag = pj.PJSUA_CALL_UNHOLD
            call.reinvite(prm)
        elif name == "codec":
            self.set_codecs([arg])
            prm = pj.CallOpParam(True)
            prm.opt.flag = pj.PJSUA_CALL_REINIT_MEDIA
            call.reinvite(prm)
        elif name == "codecs":
            self.set_codecs(arg.split(","))
        elif name == "stats":
            self.stats(call)
        elif name == "hangup":
            if not call.disconnected:
                call.hangup(pj.CallOpParam(True))
        elif name == "until_disconnected":
            return self.wait_for(name, float(arg), lambda: call.disconnected)
        else:
            emit("error", what="unknown step", step=name)
            return False
        return True

    def wait_for_quietly(self, seconds, done):
        deadline = time.monotonic() + seconds
        while not done() and time.monotonic() < deadline:
            self.ep.libHandleEvents(10)

    def finish(self):
        self.speaking_to = None
        for call in self.calls:
            if not call.disconnected and call.isActive():
                emit("hangup", call=call.name)
                try:
                    call.hangup(pj.CallOpParam(True))
                except pj.Error:
                    pass
        self.wait_for_quietly(5, lambda: all(c.disconnected or not c.isActive() for c in self.calls))
        emit(
            "done",
            refer_to=self.refer_to,
            dtmf_sent=self.dtmf_sent,
            timed_out=self.timed_out,
            calls={c.name: c.state for c in self.calls},
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="SIP URI to call")
    parser.add_argument("--from", dest="from_number", required=True, help="user part of From")
    parser.add_argument("--address", default="127.0.0.1", help="local IPv4 address for SIP and RTP")
    parser.add_argument("--port", type=int, required=True, help="local SIP (UDP) port")
    parser.add_argument("--rtp-port", type=int, default=0, help="first local RTP port (0: any)")
    parser.add_argument(
        "--codecs", default="PCMU,PCMA", help='codecs offered, in order ("all": pjsip\'s defaults)'
    )
    parser.add_argument("--log", help="pjsip's log file (every SIP message)")
    parser.add_argument("--tls-ca", help="CA file: adds a TLS transport that verifies the server")
    parser.add_argument("--tls-cert", help="client certificate for mutual TLS")
    parser.add_argument("--tls-key", help="client key for mutual TLS")
    parser.add_argument("--srtp", choices=sorted(SRTP_USE), default="off")
    parser.add_argument("--srtp-transfer", action="store_true", help="keep SRTP for the REFER's call")
    parser.add_argument("--tls-port", type=int, default=0, help="TLS listener port, named in the Contact")
    parser.add_argument("--no-sdp-offer", action="store_true", help="INVITE without SDP (delayed offer)")
    parser.add_argument(
        "--session-timer", choices=sorted(TIMER_USE), default="optional", help="RFC 4028 (pjsip's default: optional)"
    )
    parser.add_argument("--session-expires", type=int, default=1800, help="session interval asked for (s)")
    parser.add_argument("--prack", choices=sorted(PRACK_USE), default="off", help="RFC 3262 (pjsip's default: off)")
    parser.add_argument("steps", nargs="*")
    args = parser.parse_args()
    app = App(args)
    try:
        app.run(args.steps)
    finally:
        app.player = None
        app.calls = []
        app.call = None
        app.ep.libDestroy()
    sys.exit(1 if app.timed_out else 0)


if __name__ == "__main__":
    main()
