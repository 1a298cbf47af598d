{
  "algorithm": "ed25519",
  "key_id": "0a06d41e78e68308",
  "signature": "u3E2JawDIIA/x/8oC2l6YWUUlwYu+kWQwoXLeuRxUC6DI709uhgFwDriAAFAAGLqtKHlCWtluw8BW4M1L8TjCQ=="
}
