{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "c+D46Wd8D1z3La1aU7Kitq4KGE/b/d03DDsLjpalCP4Ofl63c71jq02mC0a4EbHK+JARgzMpxAY79K6FJUyEDA=="
}
