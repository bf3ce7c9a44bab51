"""``python -m django_wechatpay.sandbox --port 8765``; see :mod:`.cli` for the options."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
