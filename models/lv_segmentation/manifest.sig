{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "3Gdh7tDwcdZ+SRR3EytsyZYoQXv0GUjzTPCtYYW3d/7NSwQ+brRwofOYDwtgiEonqGKb55YnvOWBatobkS8BCA=="
}
