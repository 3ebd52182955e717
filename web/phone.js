// The Passgate test phone: JsSIP over the node's SIP WebSocket, WebRTC
// audio, keys sent as SIP INFO (JsSIP's default), and the transfer shown
// instead of followed: there is no PBX behind a test phone, so the page
// reports the REFER's target and X-Passgate-* headers and tells Passgate
// the transfer succeeded (NOTIFY with a 200 sipfrag).
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  const dtmf = params.get('dtmf');
  const withToken = (path) => token ? `${path}?token=${encodeURIComponent(token)}` : path;
  const state = { session: null, ua: null, events: [], transfer: null, muted: false };
  window.phone = state;

  function log(text) {
    const line = `${new Date().toISOString().slice(11, 23)} ${text}`;
    state.events.push(text);
    const div = document.createElement('div');
    div.textContent = line;
    $('log').appendChild(div);
    $('log').scrollTop = $('log').scrollHeight;
  }

  function setState(name) {
    $('state').textContent = name;
    $('state').dataset.state = name;
    log(`state: ${name}`);
  }

  function meter(stream, element) {
    const context = new AudioContext();
    const source = context.createMediaStreamSource(stream);
    const analyser = context.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    (function tick() {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      element.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
      element.dataset.peak = Math.max(Number(element.dataset.peak || 0), element.value);
      requestAnimationFrame(tick);
    })();
  }

  function showTransfer(request) {
    const uri = request.refer_to.uri;
    const target = uri.clone();
    target.clearHeaders();
    const headers = {};
    // JsSIP keeps a URI's headers (RFC 3261 §19.1.1) as lists by name.
    for (const [name, values] of Object.entries(uri._headers || {})) {
      if (name.toLowerCase().startsWith('x-passgate-')) {
        headers[name] = [].concat(values).map((v) => decodeURIComponent(v)).join(',');
      }
    }
    state.transfer = { target: target.toString(), headers };
    const box = $('transfer');
    box.dataset.refer = target.toString();
    box.textContent = '';
    const head = document.createElement('div');
    head.textContent = `REFER to ${target.toString()}`;
    box.appendChild(head);
    for (const [name, value] of Object.entries(headers)) {
      const line = document.createElement('div');
      line.className = 'header';
      line.dataset.name = name;
      line.textContent = `${name}: ${value}`;
      box.appendChild(line);
    }
    log(`REFER to ${target.toString()} ${JSON.stringify(headers)}`);
  }

  function completeTransfer(session, request) {
    session.sendRequest(JsSIP.C.NOTIFY, {
      extraHeaders: [
        `Event: refer;id=${request.cseq}`,
        'Subscription-State: terminated;reason=noresource',
        'Content-Type: message/sipfrag;version=2.0',
      ],
      body: 'SIP/2.0 200 OK',
    });
    log('transfer reported done (NOTIFY 200 sipfrag)');
  }

  function call(config) {
    const number = $('number').value.trim();
    const target = `sip:passgate@${location.hostname}`;
    const session = state.ua.call(target, {
      mediaConstraints: { audio: true, video: false },
      pcConfig: { iceServers: [] },
      fromUserName: number,
    });
    state.session = session;
    setState('calling');
    $('call').textContent = 'Hang up';
    $('call').classList.add('hangup');
    $('mute').disabled = false;
    session.connection.addEventListener('track', (event) => {
      const stream = event.streams[0] || new MediaStream([event.track]);
      $('remote').srcObject = stream;
      meter(stream, $('line-level'));
    });
    session.on('progress', () => setState('ringing'));
    session.on('accepted', () => setState('answered'));
    session.on('confirmed', () => {
      setState('connected');
      const senders = session.connection.getSenders().filter((s) => s.track);
      if (senders.length) meter(new MediaStream([senders[0].track]), $('mic-level'));
    });
    session.on('refer', (data) => {
      showTransfer(data.request);
      setState('transferred');
      completeTransfer(session, data.request);
    });
    session.on('newInfo', (data) => {
      if (data.originator === 'remote') log(`INFO ${data.info.contentType}`);
    });
    session.on('ended', (data) => end(`ended by ${data.originator} (${data.cause})`));
    session.on('failed', (data) => end(`failed: ${data.cause}`));
  }

  function end(why) {
    log(why);
    if (state.transfer === null) setState('ended');
    else setState('transferred-ended');
    state.session = null;
    $('call').textContent = 'Call';
    $('call').classList.remove('hangup');
    $('mute').disabled = true;
  }

  async function start() {
    const config = await (await fetch(withToken('/phone/config.json'))).json();
    if (config.demo) {
      const demo = $('demo');
      demo.hidden = false;
      demo.innerHTML = '';
      const text = document.createElement('div');
      text.id = 'demo-account';
      text.textContent = `Demo account: ${config.demo.name}, ${config.demo.number}. ` +
        `Say the passphrase “${config.demo.passphrase}” when asked.`;
      demo.appendChild(text);
      $('number').value = config.demo.number;
    }
    if (!config.ws_port) {
      setState('no-websocket');
      log('this node has no SIP WebSocket listener (sip.ws.listen)');
      return;
    }
    const query = token ? `?token=${encodeURIComponent(token)}` : '';
    const socket = new JsSIP.WebSocketInterface(`ws://${location.hostname}:${config.ws_port}/${query}`);
    state.ua = new JsSIP.UA({
      sockets: [socket],
      uri: `sip:${$('number').value || 'browser'}@passgate.invalid`,
      register: false,
      session_timers: false,
    });
    state.ua.on('connected', () => { $('call').disabled = false; setState('ready'); });
    state.ua.on('disconnected', () => { $('call').disabled = true; log('WebSocket disconnected'); });
    state.ua.start();
    $('call').addEventListener('click', () => {
      if (state.session) state.session.terminate();
      else call(config);
    });
    $('mute').addEventListener('click', () => {
      if (!state.session) return;
      state.muted = !state.muted;
      if (state.muted) state.session.mute({ audio: true });
      else state.session.unmute({ audio: true });
      $('mute').textContent = state.muted ? 'Unmute' : 'Mute';
    });
  }

  for (const key of ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#']) {
    const button = document.createElement('button');
    button.textContent = key;
    button.id = `key-${key === '*' ? 'star' : key === '#' ? 'hash' : key}`;
    button.addEventListener('click', () => {
      if (!state.session || !state.session.isEstablished()) return;
      // SIP INFO (JsSIP's default), or RFC 4733 in the media with ?dtmf=rfc4733.
      if (dtmf === 'rfc4733') {
        state.session.sendDTMF(key, { transportType: JsSIP.C.DTMF_TRANSPORT.RFC2833 });
        log(`key ${key} (RFC 4733)`);
      } else {
        state.session.sendDTMF(key);
        log(`key ${key} (SIP INFO)`);
      }
    });
    $('keypad').appendChild(button);
  }
  start().catch((e) => { setState('error'); log(String(e)); });
})();
