import SwitchyardCLI

await runCommand(ControlCommand.self)
