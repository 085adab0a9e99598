import SwitchyardCLI

useEventLoopsForConcurrency()
await runCommand(NodeCommand.self)
