{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "GnYa92CkJKu/6+1TV2GeTxy4r6gLCJbIOeIB6/luR6bHrO1iwyrmNIslzGEMXAbkyUgWuLa/IYTbTqQ1qiXWAw=="
}
