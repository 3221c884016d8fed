// Every Dapper call in this assembly is intercepted by Dapper.AOT's generator (see the project
// file): command and row-reader code is generated at compile time instead of emitted at run time.
[module: Dapper.DapperAot]
