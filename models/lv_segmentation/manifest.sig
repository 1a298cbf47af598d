{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "3cZ/0xSfjzojM3Z63DIi/h8XYE9RxTykptC61guAk2Ziw/6tUkOjtXSiNg5aelZHN47fD0yIuAXx95LZKMKoAA=="
}
