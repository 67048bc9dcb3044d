from mbegu.cli.main import main

raise SystemExit(main())
