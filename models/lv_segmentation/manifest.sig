{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "A0Z7e55wAOb+VNY/rhL6yUA1SZhPdLZBXmGh/7SpvwilUQdUkktYLmHU8jGeq/LV5I5Gmmif+spj5v/k1/tOAA=="
}
