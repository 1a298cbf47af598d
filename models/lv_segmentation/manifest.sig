{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "sp5hiCa2BN/Y+FUm0PnZGQmx4XkHCmZ+2VcZGE2v9fPZ6ECBiJnRa7WMXprVik5y2R4LqgwfGos35+5QaW/hCQ=="
}
