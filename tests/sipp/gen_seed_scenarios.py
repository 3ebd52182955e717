#!/usr/bin/env python3
"""Writes the seed-call SIPp scenarios whose caller types digits.

Digits go as RFC 4733 telephone-events, replayed from SIPp's bundled
dtmf_2833_<digit>.pcap captures. The one-time code is not known when the
scenario starts: the test's SMS sink receives it and hands it to SIPp as a
MESSAGE in the call ("code=6408"); the scenario picks the pcap for each digit
with condexec. Run from tests/sipp/ after editing; the XML files are committed.

With routed=True a scenario's caller honours Record-Route, as a caller behind a
record-routing proxy must (RFC 3261 §12.1.2): it keeps the 200's Record-Route
as its route set (rrs), and sends ACK, BYE, INFO, re-INVITE and NOTIFY to the
200's Contact ([next_url]) with that route set ([routes]). The proxy tests
(crates/passgate/tests/proxy.rs) run the routed_*.xml scenarios through Kamailio.
"""

HEAD = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
PCAP = "/usr/share/sip-tester/dtmf_2833_{}.pcap"
KNOWN = "+15550100001"
UNKNOWN = "+15559998888"


def in_dialog_start(method, routed):
    """The Request-URI line of an in-dialog request and, when routed, its Route."""
    if routed:
        return f"      {method} [next_url] SIP/2.0\n      [routes]\n"
    return f"      {method} sip:passgate@[remote_ip]:[remote_port] SIP/2.0\n"


def ok_200(routed):
    """Receives the 200 to an INVITE; routed, its Record-Route is the route set."""
    return '  <recv response="200" rrs="true"/>\n' if routed else '  <recv response="200"/>\n'


def invite(number, routed=False):
    return f'''  <send retrans="500">
    <![CDATA[
      INVITE sip:passgate@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Caller" <sip:{number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:passgate@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      P-Asserted-Identity: <sip:{number}@[local_ip]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
''' + ok_200(routed) + f'''  <send>
    <![CDATA[
''' + in_dialog_start("ACK", routed) + f'''      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Caller" <sip:{number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:passgate@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
'''


KEY_PCAP = {"#": "pound", "*": "star"}


def press(digits, gap_ms=800):
    out = ""
    for d in digits:
        out += f'  <nop><action><exec play_pcap_audio="{PCAP.format(KEY_PCAP.get(d, d))}"/></action></nop>\n'
        out += f'  <pause milliseconds="{gap_ms}"/>\n'
    return out


def bye(number, cseq=2, routed=False):
    return '''  <send retrans="500">
    <![CDATA[
''' + in_dialog_start("BYE", routed) + f'''      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Caller" <sip:{number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:passgate@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} BYE
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
'''


def speak(file, ms):
    return (f'  <nop><action><exec rtp_stream="{file},-1,0"/></action></nop>\n'
            f'  <pause milliseconds="{ms}"/>\n'
            '  <nop><action><exec rtp_stream="pause"/></action></nop>\n')


def receive_code():
    tests = "".join(
        f'      <todouble assign_to="n{i}" variable="d{i}"/>\n'
        + "".join(f'      <test assign_to="b{i}_{v}" variable="n{i}" compare="equal" value="{v}"/>\n' for v in range(10))
        for i in range(1, 5))
    return f'''  <!-- The SMS sink relays the code it captured: MESSAGE with body "code=NNNN". -->
  <recv request="MESSAGE" timeout="60000">
    <action>
      <ereg regexp="code=([0-9])([0-9])([0-9])([0-9])" search_in="body" check_it="true" assign_to="code,d1,d2,d3,d4"/>
{tests}    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
'''


def type_code(shift=0, gap_ms=800):
    """Types the received code; shift=1 types each digit plus one (always wrong)."""
    out = ""
    for i in range(1, 5):
        for v in range(10):
            out += (f'  <nop condexec="b{i}_{v}"><action><exec play_pcap_audio="'
                    f'{PCAP.format((v + shift) % 10)}"/></action></nop>\n')
        out += f'  <pause milliseconds="{gap_ms}"/>\n'
    return out


def refer_tail(number, auth_regexp, cseq, final="SIP/2.0 200 OK", routed=False, referred_by=False):
    """The REFER (its Refer-To checked against auth_regexp, and its Referred-By
    naming Passgate when referred_by), 202, NOTIFYs of 100 and `final`, then
    Passgate's BYE."""
    by = ('      <ereg regexp="sip:passgate@" search_in="hdr" header="Referred-By:" '
          'check_it="true" assign_to="by"/>\n') if referred_by else ""
    return f'''  <!-- The hand-off: REFER with the result in the Refer-To URI's headers. -->
  <recv request="REFER" timeout="60000">
    <action>
      <ereg regexp="{auth_regexp}" search_in="hdr" header="Refer-To:" check_it="true" assign_to="auth"/>
{by}    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 202 Accepted
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
''' + "".join('''  <send retrans="500">
    <![CDATA[
''' + in_dialog_start("NOTIFY", routed) + f'''      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Caller" <sip:{number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:passgate@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq + k} NOTIFY
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Event: refer
      Subscription-State: {state}
      Content-Type: message/sipfrag
      Content-Length: [len]

      {frag}
    ]]>
  </send>
  <recv response="200"/>
''' for k, (state, frag) in enumerate([("active;expires=60", "SIP/2.0 100 Trying"),
                                        ("terminated;reason=noresource", final)])) + '''  <recv request="BYE" timeout="20000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
'''


def info_digit(number, digit, cseq, routed=False):
    """A key press by SIP INFO (application/dtmf-relay)."""
    return '''  <send retrans="500">
    <![CDATA[
''' + in_dialog_start("INFO", routed) + f'''      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Caller" <sip:{number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:passgate@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration=160
    ]]>
  </send>
  <recv response="200"/>
'''


def reinvite(number, cseq, offered, answered, routed=False):
    """A re-INVITE offering direction `offered`; its 200 must answer `answered`
    with the same codecs, and is ACKed."""
    ack = '''  <send>
    <![CDATA[
''' + in_dialog_start("ACK", routed) + f'''      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Caller" <sip:{number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:passgate@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
'''
    return '''  <send retrans="500">
    <![CDATA[
''' + in_dialog_start("INVITE", routed) + f'''      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Caller" <sip:{number}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:passgate@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 {cseq} IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a={offered}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="a={answered}" search_in="body" check_it="true" assign_to="d{cseq}"/>
      <ereg regexp="m=audio [0-9]+ RTP/AVP 0 101" search_in="body" check_it="true" assign_to="m{cseq}"/>
    </action>
  </recv>
''' + ack


def verified(routed=False):
    return (invite(KNOWN, routed)
            + '  <!-- The caller says the passphrase (looped, so a repetition falls after the beep). -->\n'
            + speak("passphrase.wav", 14000)
            + '  <!-- At the menu, "press zero" for an agent (DTMF by SIP INFO). -->\n'
            + info_digit(KNOWN, "0", 2, routed)
            + refer_tail(KNOWN, "X-Passgate-Auth=verified&amp;X-Passgate-Account=nelson", 3,
                         routed=routed, referred_by=True))


def hold_and_resume(routed=False):
    return (invite(KNOWN, routed)
            + '  <pause milliseconds="200"/>\n'
            + reinvite(KNOWN, 2, "sendonly", "recvonly", routed)
            + '  <pause milliseconds="200"/>\n'
            + reinvite(KNOWN, 3, "sendrecv", "sendrecv", routed)
            + '  <pause milliseconds="200"/>\n'
            + bye(KNOWN, 4, routed))


def agent_hangup(routed=False):
    """Passgate ends the call (its maximum call duration) with BYE."""
    return (invite(KNOWN, routed)
            + '''  <recv request="BYE" timeout="20000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
''')


def scenario(path, name, comment, body, refs):
    with open(path, "w") as f:
        refs = f'  <Reference variables="{refs}"/>\n' if refs else ""
        f.write(HEAD + f"<!-- {comment} -->\n<scenario name=\"{name}\">\n" + body + refs + "</scenario>\n")


scenario("seed_verified.xml", "passgate seed: verified by passphrase",
         "The seed call, first branch: Nelson Medina calls from the number on file, says his "
         "passphrase (\"하얀 말\" with the Korean test model; passphrase.wav in the working "
         "directory, 8 kHz u-law), presses 0 at the menu and is referred to the agent queue as verified.",
         verified(), "auth,by")

scenario("seed_sms_code.xml", "passgate seed: SMS code",
         "The seed call, second branch: Nelson Medina says a wrong passphrase (wrong.wav), the code "
         "goes by SMS to the number on file, he types it (RFC 4733), then 0 at the menu: REFER as verified.",
         invite(KNOWN)
         + '  <nop><action><exec rtp_stream="wrong.wav,-1,0"/></action></nop>\n'
         + receive_code()
         + '  <nop><action><exec rtp_stream="pause"/></action></nop>\n'
         + '  <pause milliseconds="2000"/>\n'
         + type_code()
         + '  <pause milliseconds="4000"/>\n'
         + press("0")
         + refer_tail(KNOWN, "X-Passgate-Auth=verified&amp;X-Passgate-Account=nelson", 2),
         "code,auth," + ",".join(f"b{i}_{v}" for i in range(1, 5) for v in range(10)))

scenario("seed_failed.xml", "passgate seed: failed",
         "The seed call, third branch: a wrong passphrase, then a wrong code three times: REFER to "
         "the representative with X-Passgate-Auth=failed.",
         invite(KNOWN)
         + '  <nop><action><exec rtp_stream="wrong.wav,-1,0"/></action></nop>\n'
         + receive_code()
         + '  <nop><action><exec rtp_stream="pause"/></action></nop>\n'
         + '  <pause milliseconds="2000"/>\n'
         + '  <pause milliseconds="3000"/>\n'.join(type_code(shift=1) for _ in range(3))
         + refer_tail(KNOWN, "X-Passgate-Auth=failed", 2),
         "code,auth," + ",".join(f"b{i}_{v}" for i in range(1, 5) for v in range(10)))

scenario("seed_typed_number.xml", "passgate seed: typed number",
         "The seed call, fourth branch: an unknown number presses 1, types the account's 10-digit "
         "number, says the passphrase (passphrase.wav), presses 0: REFER as verified.",
         invite(UNKNOWN)
         + '  <pause milliseconds="1500"/>\n'
         + press("1", gap_ms=2500)
         + press("5550100001", gap_ms=700)
         + speak("passphrase.wav", 18000)
         + press("0")
         + refer_tail(UNKNOWN, "X-Passgate-Auth=verified&amp;X-Passgate-Account=nelson", 2),
         "auth")

scenario("seed_typed_number_hash.xml", "passgate seed: typed number ended with #",
         "The fourth branch typed as many callers do: the 10-digit number then # (250 ms after the "
         "last digit, once the lookup has started). The # ends the entry and must not cut the "
         "passphrase request and beep; the passphrase (passphrase.wav) is then heard: REFER as verified.",
         invite(UNKNOWN)
         + '  <pause milliseconds="1500"/>\n'
         + press("1", gap_ms=2500)
         + press("555010000", gap_ms=700)
         + press("1", gap_ms=250)
         + press("#", gap_ms=500)
         + speak("passphrase.wav", 18000)
         + press("0")
         + refer_tail(UNKNOWN, "X-Passgate-Auth=verified&amp;X-Passgate-Account=nelson", 2),
         "auth")

scenario("seed_late_answer.xml", "passgate seed: a late answer",
         "Nelson Medina says nothing for a while: late.wav (silence, then the passphrase) plays "
         "once; the test sizes its silence so that the phrase begins 7 s after the beep. He "
         "hangs up after 22 s; the audit trail says what was heard.",
         invite(KNOWN)
         + '  <nop><action><exec rtp_stream="late.wav,1,0"/></action></nop>\n'
         + '  <pause milliseconds="22000"/>\n'
         + bye(KNOWN), "")

scenario("seed_hangup.xml", "passgate seed: caller hangs up",
         "The seed call, sixth branch: the caller hangs up while the passphrase is asked for.",
         invite(KNOWN) + '  <pause milliseconds="3000"/>\n' + bye(KNOWN), "")

scenario("seed_transfer_failed.xml", "passgate seed: transfer fails",
         "An unknown caller presses nothing and is referred to a representative, but the "
         "representative is busy (NOTIFY with a 486 sipfrag): Passgate says so and hangs up.",
         invite(UNKNOWN) + refer_tail(UNKNOWN, "X-Passgate-Auth=no-account", 2, final="SIP/2.0 486 Busy Here"),
         "auth")


scenario("abuse_unknown_number.xml", "passgate abuse: guessing a number",
         "A caller guesses an account number that does not exist (press 1, then 5550000000) and "
         "hangs up: one failed factor counted against the calling number.",
         invite(UNKNOWN)
         + '  <pause milliseconds="1500"/>\n'
         + press("1", gap_ms=2500)
         + press("5550000000", gap_ms=700)
         + '  <pause milliseconds="3000"/>\n'
         + bye(UNKNOWN), "")

scenario("abuse_locked.xml", "passgate abuse: locked caller",
         "The same calling number again, now over the lock-out limit: straight to a representative "
         "with X-Passgate-Auth=locked.",
         invite(UNKNOWN) + refer_tail(UNKNOWN, "X-Passgate-Auth=locked", 2),
         "auth")

scenario("abuse_sms_capped.xml", "passgate abuse: SMS cap",
         "Nelson Medina says a wrong passphrase after this hour's SMS was already sent (possibly by "
         "another node): no code is sent and the caller is transferred.",
         invite(KNOWN)
         + '  <nop><action><exec rtp_stream="wrong.wav,-1,0"/></action></nop>\n'
         + refer_tail(KNOWN, "X-Passgate-Auth=", 2),
         "auth")


# Through a record-routing proxy (crates/passgate/tests/proxy.rs).
scenario("routed_caller_bye.xml", "passgate through a proxy: caller hangs up",
         "Through a record-routing proxy: the call is answered, and ended by the caller's BYE, "
         "both routed by the 200's Record-Route.",
         invite(KNOWN, routed=True) + '  <pause milliseconds="1500"/>\n' + bye(KNOWN, routed=True), "")

scenario("routed_hold_resume.xml", "passgate through a proxy: hold and resume",
         "Through a record-routing proxy: re-INVITE to hold (sendonly, answered recvonly) and to "
         "resume (sendrecv), each routed and ACKed, then BYE.",
         hold_and_resume(routed=True), "d2,m2,d3,m3")

scenario("routed_seed_verified.xml", "passgate through a proxy: verified by passphrase",
         "The seed call's first branch through a record-routing proxy: the REFER and Passgate's "
         "BYE come through the proxy, the NOTIFYs go through it by the route set.",
         verified(routed=True), "auth,by")

scenario("routed_agent_hangup.xml", "passgate through a proxy: Passgate hangs up",
         "Through a record-routing proxy: Passgate ends the call with BYE; it reaches the caller "
         "through the proxy.",
         agent_hangup(routed=True), "")
