{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "1dJ1Y33peGrRuOkcuwLaQgsvKwGqy5zZ0Ce8aqYvmURoqoJCN5k2yLKPXh7+glLSzPTOpRIQt5aKjn3H7XJ0Cw=="
}
