{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "6PcK19CGEIkYCBo3WMqOWdLO+9l3nrWShUata7OC73aJtmtb997X/iieepJrMLlzz+ee7+7qZaXnzH44Z2VtAA=="
}
