{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "1w5lI77hTdxy8Rti8Rj3HDjqq+2QL6Sn9+lwj7YtFTqE+APaKdDRZYCiPTpZX959pP4elzuJWIJkoOdJ+tZ2Dg=="
}
