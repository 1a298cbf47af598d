{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "A7xHOB3KbdjLzg1ajbgvMefFnIS+bCsOyaOGJKpw4ikCxreSeGke+0o9Ou+0jBowBdm3A8napEBaIii2s1bCBQ=="
}
