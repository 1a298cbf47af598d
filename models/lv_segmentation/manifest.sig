{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "2l2Yeh2oaWeml+7Cdmw47zWVAMwYM4xmfWPDKmq1F8oR6E493KN2jAeqAptvuHORozZm3TT5bOS13lST2LjGDg=="
}
