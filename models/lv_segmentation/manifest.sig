{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "8ahJVvr+/thFzJYXMK/w/FtyQu2nQrEb5WT+xHC11MYYRbEafHF/L08i/BH5hwap7qRyE/T9oj+XM/xojqa2Dw=="
}
