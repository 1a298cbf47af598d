{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "G0iSrkXmyWyNDXNbHZANJICGlFQllJaW9w4q3z791myxo5+JRaVQY6lLMeEAOH8l1IV8HIf3iEyrvd72AX35Dg=="
}
