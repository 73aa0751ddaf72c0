"""Template front end: lexer, parser, AST nodes, compiler and the instruction set."""
