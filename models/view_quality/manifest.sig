{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "YKo3ueghV5XBjyryjyRdOO4qk/pc8imibrXFmVTEsXyytcFCR7u1L/yyzuCS+mjJ8DnNbtK046E6r1hrll2ADQ=="
}
