package controller

import "github.com/labstack/echo/v4"

// ruleRoutes registers the rules routes (issue 3).
func (s *Server) ruleRoutes(_ *echo.Group) {}
