{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "ZZ9EbkCVipEKW/QP91I0Iv5f5b/NijtbE5K/h7ZsmH9ifb9qfio4eYeD8pZikyUJ7nIoLdgPutnlrySzSMpODQ=="
}
