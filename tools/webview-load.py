#!/usr/bin/env python3
# The web view's load time in headless Chromium, in real time (the browser test's
# --virtual-time-budget stops the page's clock while fetches are pending, so it cannot time them).
# Drives Chromium over the DevTools protocol (a minimal WebSocket client: the standard library has
# none), opens URL RUNS times in one tab and polls until body[data-state] is ready, then prints the
# page's own figures from <pre id="result-json">: load_ms (navigation start to the first chart),
# draw_ms (the queries and drawing), the store's elapsed_ms and rows_scanned summed over the queries.
#
# Usage: tools/webview-load.py 'http://127.0.0.1:8080/#app=bench&key=secret&metric=count&group_by=metadata.provider&from=…&to=…' [RUNS]
# docs/webview.md has the figures on 10M actions.
import base64, json, os, socket, struct, subprocess, sys, time, urllib.request, shutil, tempfile

def ws_connect(url):
    assert url.startswith('ws://')
    hostport, path = url[5:].split('/', 1)
    host, port = hostport.split(':')
    s = socket.create_connection((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(('GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
               'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n' % (path, hostport, key)).encode())
    buf = b''
    while b'\r\n\r\n' not in buf: buf += s.recv(4096)
    assert b' 101 ' in buf.split(b'\r\n')[0], buf
    return s

def ws_send(s, text):
    data = text.encode(); mask = os.urandom(4)
    n = len(data)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack('>H', n) if n < 65536 else bytes([0x80 | 127]) + struct.pack('>Q', n))
    s.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

def recv_exact(s, n):
    out = b''
    while len(out) < n:
        c = s.recv(n - len(out)); assert c; out += c
    return out

def ws_recv(s):
    msg = b''
    while True:
        b0, b1 = recv_exact(s, 2)
        n = b1 & 0x7f
        if n == 126: n = struct.unpack('>H', recv_exact(s, 2))[0]
        elif n == 127: n = struct.unpack('>Q', recv_exact(s, 8))[0]
        msg += recv_exact(s, n)
        if b0 & 0x80: return msg.decode()

def main():
    url = sys.argv[1]; runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    profile = tempfile.mkdtemp()
    port = 9337
    p = subprocess.Popen(['chromium', '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                          '--no-first-run', '--user-data-dir=' + profile, '--remote-debugging-port=%d' % port,
                          'about:blank'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                targets = json.load(urllib.request.urlopen('http://127.0.0.1:%d/json/list' % port)); break
            except Exception: time.sleep(0.1)
        page = [t for t in targets if t['type'] == 'page'][0]
        s = ws_connect(page['webSocketDebuggerUrl'])
        mid = [0]
        def call(method, params=None):
            mid[0] += 1; ws_send(s, json.dumps({'id': mid[0], 'method': method, 'params': params or {}}))
            while True:
                m = json.loads(ws_recv(s))
                if m.get('id') == mid[0]: return m
        for run in range(runs):
            call('Page.navigate', {'url': 'about:blank'})
            time.sleep(0.3)
            t0 = time.time()
            call('Page.navigate', {'url': url})
            while True:
                r = call('Runtime.evaluate', {'expression': "document.body ? document.body.dataset.state + '|' + document.getElementById('result-json').textContent : ''", 'returnByValue': True})
                v = r['result']['result'].get('value', '')
                if v.startswith('ready|') or v.startswith('error|'): break
                time.sleep(0.01)
            wall = (time.time() - t0) * 1000
            state, summary = v.split('|', 1)
            j = json.loads(summary)
            print(json.dumps({'run': run, 'state': state, 'wall_ms': round(wall), 'load_ms': j.get('load_ms'),
                              'draw_ms': j.get('draw_ms'), 'store_elapsed_ms': round(j.get('elapsed_ms', 0), 1),
                              'rows_scanned': j.get('rows_scanned'), 'queries': len(j.get('queries', [])),
                              'series': [x['name'] for x in (j.get('series') or [])], 'message': j.get('message')}))
            # Reload fresh so the key comes from the fragment again.
    finally:
        p.terminate(); p.wait(); shutil.rmtree(profile, ignore_errors=True)

main()
