{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "4HxDj5jehRVB/2Z0Ux7jRrgUgG6Z7RwBlUFLsDH28OpBtd5OBtXhOCVf/SM6iGzx53znVnNhXLYpbivBgic9Ag=="
}
