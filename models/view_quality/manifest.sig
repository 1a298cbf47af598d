{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "vVNp8J2+C5vLqcShiGVodj9aTawp2iVbbl8U/6szvga36/tAHRguP60Rp0bjmruOcJAidnJQ5MPlNLwQs7LUBA=="
}
