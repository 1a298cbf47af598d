{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "74UyVc4++zNaJ13LR9d5eI1fjxB2IrhXqOYZFQclDWQKmbuFpRIJG3CmdsuXTx+vuwjLpfiARwHcA8rTsitfBw=="
}
