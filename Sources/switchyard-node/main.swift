import SwitchyardCLI

await runCommand(NodeCommand.self)
