{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "Getg/NXenCDZIbA/1XiZV5OLM32Z/fMl5zy6/JkuYL8cRH7d6zWrjBEjPantbfcbon5g+Qf4yIXtyfQUaCVwBg=="
}
