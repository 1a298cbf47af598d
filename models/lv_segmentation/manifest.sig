{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "X2zlThYKy6jxlcm7v+u0oWfcjTOhDEgSrRQyEAEi6auHP4JzujwFUeSRNXNfm1vduC7KkUN6t6FKrOGSzCq4AA=="
}
