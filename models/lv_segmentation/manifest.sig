{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "o1u0QHchrTntDzqvdUZA1rQh8GwXKasZpex5jE1Sm7OwMw46rpYZeWupj37dn2ruZ69kbs9xQ4876u+Ry3KyBA=="
}
