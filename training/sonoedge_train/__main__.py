from .cli import main

if __name__ == "__main__":  # guarded: multiprocessing (spawn) re-imports this module in its workers
    raise SystemExit(main())
