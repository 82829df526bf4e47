from tcpsim.cli import main

main()
