{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "lr6F9g4vg0Ta4x/iEgMG1IwB1oST5VjhGC9ryut6ktcen8iwDeTeVBCvynV1be0q+QR5VxkdKUIR2/2ba9N9Ag=="
}
