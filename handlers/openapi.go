package handlers

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPIDocument is the OpenAPI 3.1 description of the JSON API. It is
// kept by hand beside the handlers, and a test checks real responses of
// every route it documents against its schemas, so the two cannot drift.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI 3.1 description of the JSON API
// served at /api/v1/openapi.json. The caller must not modify it.
func OpenAPIDocument() []byte { return openAPIDocument }

// openAPI serves the embedded document as it is.
func (s *server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.Send(openAPIDocument)
}
