import SwitchyardCLI

await runCommand(SwitchyardCommand.self)
