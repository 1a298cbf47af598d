"""A real OpenIGTLink peer for sonoedge's tests: pyigtl (PyPI), in both roles.

  igtl_peer.py send SPEC.json     pyigtl client: connects to SPEC's port, sends SPEC's images one by one and, after
                                  each, waits for its label map IMAGE and STRING summary (and POINT when asked)
  igtl_peer.py serve SPEC.json    pyigtl server on SPEC's port: once sonoedge connects, sends the images, each
                                  again until its results have come back
  igtl_peer.py crc FILE           prints pyigtl's CRC-64 of FILE's bytes (hex)
  igtl_peer.py pack SPEC.json     prints pyigtl's packed bytes (hex) of SPEC's messages, for golden comparisons

SPEC: {"port": int, "timeout": s, "images": [{"device", "file" (raw pixels), "dtype" (numpy, e.g. "u1", ">i2"),
"shape" ([h, w] or [h, w, c]), "matrix" (4x4 ijk to world), "ras": bool, "headerVersion": 1|2, "timestamp"}],
"label": device, "summary": device, "contour": device or null}. Prints one JSON object per image on stdout.
"""
import json
import sys
import time

import numpy as np
import pyigtl


def image_message(spec):
    a = np.fromfile(spec['file'], dtype=np.dtype(spec['dtype'])).reshape(spec['shape'])
    voxels = a[None]  # (k, j, i[, c])
    m = pyigtl.ImageMessage(voxels, ijk_to_world_matrix=np.array(spec['matrix'], dtype=np.float64),
                            world_coordinate_system='ras' if spec.get('ras') else 'lps',
                            timestamp=spec.get('timestamp', time.time()), device_name=spec['device'])
    m.header_version = spec.get('headerVersion', 1)
    return m


def describe(label, summary, contour):
    out = {}
    if label is not None:
        img = label.image
        out['label'] = {
            'shape': list(img.shape), 'dtype': str(img.dtype), 'matrix': np.asarray(label.ijk_to_world_matrix).tolist(),
            'ras': label.world_coordinate_system == 'ras', 'inside': int(np.count_nonzero(img)), 'max': int(img.max()),
            'rows': [int(x) for x in np.count_nonzero(img[0], axis=1)], 'headerVersion': label.header_version,
            'metadata': label.metadata, 'timestamp': label.timestamp, 'device': label.device_name,
        }
    if summary is not None:
        out['summary'] = json.loads(summary.string)
        out['summaryDevice'] = summary.device_name
    if contour is not None:
        out['contour'] = [list(map(float, p)) for p in contour.positions]
    return out


def wait_results(peer, spec, timeout):
    label = peer.wait_for_message(spec['label'], timeout=timeout)
    summary = peer.wait_for_message(spec['summary'], timeout=timeout)
    contour = peer.wait_for_message(spec['contour'], timeout=timeout) if spec.get('contour') else None
    return label, summary, contour


def send(spec):
    client = pyigtl.OpenIGTLinkClient(host='127.0.0.1', port=spec['port'])
    for im in spec['images']:
        client.send_message(image_message(im), wait=True)
        label, summary, contour = wait_results(client, spec, spec.get('timeout', 20))
        print(json.dumps(describe(label, summary, contour)), flush=True)
    client.stop()


def serve(spec):
    server = pyigtl.OpenIGTLinkServer(port=spec['port'], local_server=True)
    print(json.dumps({'listening': spec['port']}), flush=True)
    deadline = time.time() + spec.get('timeout', 20)
    while not server.is_connected():
        if time.time() > deadline:
            raise SystemExit('no connection')
        time.sleep(0.01)
    for im in spec['images']:
        got = (None, None, None)
        end = time.time() + spec.get('timeout', 20)
        while time.time() < end:
            server.send_message(image_message(im), wait=True)
            got = wait_results(server, spec, 1.0)
            if got[0] is not None and got[1] is not None and (not spec.get('contour') or got[2] is not None):
                break
        print(json.dumps(describe(*got)), flush=True)
    server.stop()


def main():
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == 'crc':
        from pyigtl.messages import CRC64
        with open(arg, 'rb') as f:
            print('%016x' % CRC64(f.read()))
        return
    with open(arg) as f:
        spec = json.load(f)
    if mode == 'pack':
        out = []
        for im in spec['images']:
            out.append(image_message(im).pack().hex())
        for s in spec.get('strings', []):
            m = pyigtl.StringMessage(s['text'], timestamp=s['timestamp'], device_name=s['device'])
            m.header_version = s.get('headerVersion', 1)
            m.metadata = s.get('metadata', {})
            m.message_id = s.get('messageId', 0)
            out.append(m.pack().hex())
        print(json.dumps(out))
        return
    (send if mode == 'send' else serve)(spec)


if __name__ == '__main__':
    main()
