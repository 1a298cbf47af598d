{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "R7yZrURW5y1xSgoMWY3xiJ752+g2rgPrAlWBfXhAPRxeQV4YlXnuJgDmnsF9JgbNHAKV9b+Tfnak9NQey+QMBg=="
}
