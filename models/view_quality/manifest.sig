{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "RQKpSqcbjyXwa7QW3/6Uo0udNWW8YaMHuVrVpvTuxihh3V23sLLlJcFBqit46O8vrvBmVhRu7HBt0PYZ4+FKBA=="
}
