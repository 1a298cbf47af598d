{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "tg0rMhsn6sZNHUXIS+ZtJcwWNYwCwoh7YS+0TeaRWm1/hj5WjDl9woevU7PqKUvaztQ4Imee1D+uAOwHcPaOAA=="
}
