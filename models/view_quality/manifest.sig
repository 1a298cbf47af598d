{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "MQ1asDCviXqWm/glBrXwH0VvuGLV2pF6PgXuKl/EqNYTcstdvqUlKBxtdZ5sK0RR3K/3C7ELLZgF3s55GGSOBQ=="
}
