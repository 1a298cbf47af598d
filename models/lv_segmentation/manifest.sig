{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "BA/h1G+b7oZP7lSF7XhlX/s1unGVj/zErmxLtgTuHXYMTgQCKZRpHfXp0NbtLpIYQp6Y5cg1RTJkVDSlW2nfBA=="
}
