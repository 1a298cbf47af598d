{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "JC49sYovgkuA7bypbNZpe4Q43hKA72GDGf8odKKgJgzwhbsSJm6kP/Nh9xp5QWqn65Mgr1Jt0ITinHmLowalDg=="
}
