from kd.cli import main

raise SystemExit(main())
