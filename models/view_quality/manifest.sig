{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "js5Z8k7zhtEIbzYAfJdoXDpglX8N78Agrq3rmFk6jdQOrhdfo81OBUlVhzG5ArcNMYND+Z0WsKoutUAGsiOzAw=="
}
