{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "7YKMiqDkkyL5X6Mn7RN7uGkbKfLLv8UH2f5V4+3cPvithnuF6ECuDk38ytSk8dHrCmusFy1sLIlQuD2u6rnbCA=="
}
