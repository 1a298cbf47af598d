"""A real DICOM Storage SCP that answers the status a test chooses: pynetdicom (PyPI), for sonoedge's PACS outbox tests.

  storescp_peer.py --port PORT [--aet AET] [--status STATUS] [--nth N:STATUS ...] [--comment TEXT]

Listens on 127.0.0.1:PORT as AET (default STORESCP), accepting every storage SOP class in every transfer syntax
pynetdicom knows, and answers the Nth C-STORE it receives (counted from 1 while it runs) with the STATUS given for N by
--nth, the others with --status (default 0x0000). STATUS is hex (0xA900) or decimal. With --comment, each response
that is not 0x0000 carries TEXT as its Error Comment (0000,0902). The data set is not decoded.

Prints one JSON line once it listens, {"listening": PORT, "aet": AET}, then one per C-STORE as it answers it:
{"n": N, "sopClass": UID, "sopInstance": UID, "callingAet": AET, "status": STATUS (int)}. Runs until killed.
"""
import argparse
import json
import signal
import sys
import threading

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt


def status_of(text):
    return int(text, 0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--aet', default='STORESCP')
    p.add_argument('--status', type=status_of, default=0x0000)
    p.add_argument('--nth', action='append', default=[], metavar='N:STATUS')
    p.add_argument('--comment')
    a = p.parse_args()
    nth = {}
    for spec in a.nth:
        n, _, s = spec.partition(':')
        nth[int(n)] = status_of(s)

    lock = threading.Lock()
    count = [0]

    def on_store(event):
        with lock:
            count[0] += 1
            n = count[0]
        status = nth.get(n, a.status)
        req = event.request
        print(json.dumps({'n': n, 'sopClass': str(req.AffectedSOPClassUID), 'sopInstance': str(req.AffectedSOPInstanceUID),
                          'callingAet': event.assoc.requestor.ae_title, 'status': status}), flush=True)
        if a.comment is None or status == 0:
            return status
        ds = Dataset()
        ds.Status = status
        ds.ErrorComment = a.comment
        return ds

    ae = AE(ae_title=a.aet)
    for cx in AllStoragePresentationContexts:
        ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    server = ae.start_server(('127.0.0.1', a.port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    print(json.dumps({'listening': a.port, 'aet': a.aet}), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
